// A map people recognise without a tile server (issue #21 item 4): water, land and country borders from the
// public-domain Natural Earth data that the npm package world-atlas ships as TopoJSON (1:10m, served from
// node_modules under /vendor/world-atlas), plus the names of sites and depots. Only the part of the world around
// the view is turned into Leaflet layers (the whole 1:10m world is ~400k points; a region is a few thousand), and
// it is rebuilt when the view leaves what was drawn. With a tile URL configured, the board uses tiles instead.
(function () {
  "use strict";
  const ATLAS = "/vendor/world-atlas/countries-10m.json";
  const NATURAL_EARTH = '<a href="https://www.naturalearthdata.com/">Natural Earth</a>';
  // In the viewer's language (board.map.attribution); drawn after sign-in, when the catalogue is loaded.
  const attribution = () => I18N.t("board.map.attribution").replace("Natural Earth", NATURAL_EARTH);
  const SITE_LABEL_MIN_ZOOM = 12; // below this the site names would cover each other; depots are always named

  function bboxOfCoords(coords, box) {
    if (typeof coords[0] === "number") {
      box[0] = Math.min(box[0], coords[0]); box[1] = Math.min(box[1], coords[1]);
      box[2] = Math.max(box[2], coords[0]); box[3] = Math.max(box[3], coords[1]);
    } else for (const c of coords) bboxOfCoords(c, box);
    return box;
  }
  const within = (coords, b) => {
    const box = bboxOfCoords(coords, [Infinity, Infinity, -Infinity, -Infinity]);
    return box[0] <= b.getEast() && box[2] >= b.getWest() && box[1] <= b.getNorth() && box[3] >= b.getSouth();
  };
  // Keep only the polygons / lines of a (Multi)Polygon / (Multi)LineString geometry that touch ``bounds``.
  function crop(geometry, bounds) {
    const multi = geometry.type.startsWith("Multi");
    const parts = (multi ? geometry.coordinates : [geometry.coordinates]).filter((p) => within(p, bounds));
    return parts.length ? { type: multi ? geometry.type : "Multi" + geometry.type, coordinates: parts } : null;
  }

  function draw(map) {
    if (typeof topojson === "undefined") return Promise.resolve(false);
    map.getContainer().classList.add("qf-basemap"); // water: the container's own background (board.css)
    const pane = map.createPane("basemap");
    pane.style.zIndex = 150; // under the jobs, routes and technicians (overlay pane, 400)
    pane.style.pointerEvents = "none";
    const group = L.layerGroup().addTo(map);
    let world = null, land = null, borders = null, drawn = null;

    function render() {
      const view = map.getBounds();
      if (!world || (drawn && drawn.contains(view))) return;
      drawn = view.pad(3);
      group.clearLayers();
      const countries = land.features.map((f) => f.geometry && crop(f.geometry, drawn)).filter(Boolean);
      L.geoJSON({ type: "GeometryCollection", geometries: countries }, { pane: "basemap", interactive: false,
        style: { stroke: true, color: "#8fb8c9", weight: 1, fillColor: "#f2efe9", fillOpacity: 1, className: "basemap-land" } }).addTo(group);
      const lines = crop(borders, drawn);
      if (lines) L.geoJSON(lines, { pane: "basemap", interactive: false,
        style: { color: "#9a8bb0", weight: 1.2, dashArray: "4 3", className: "basemap-border" } }).addTo(group);
    }

    map.attributionControl?.addAttribution(attribution());
    return fetch(ATLAS).then((r) => { if (!r.ok) throw new Error(`${ATLAS}: ${r.status}`); return r.json(); })
      .then((topology) => {
        world = topology;
        land = topojson.feature(world, world.objects.countries);
        borders = topojson.mesh(world, world.objects.countries, (a, b) => a !== b);
        render();
        map.on("moveend", render);
        return true;
      })
      .catch((e) => { console.warn("basemap not drawn:", e); return false; });
  }

  // Site (device) and depot names; depots and the warehouse always, sites only when zoomed in enough to read.
  function places(map, sites, depots) {
    const group = L.layerGroup().addTo(map);
    const label = (lat, lon, text, cls) => L.circleMarker([lat, lon], { pane: "basemap", radius: 3, weight: 1,
      color: "#555", fillColor: "#fff", fillOpacity: 1, interactive: false, className: cls })
      .bindTooltip(text, { permanent: true, direction: "top", className: `place-label ${cls}`, interactive: false })
      .addTo(group);
    for (const s of sites || []) if (Number.isFinite(s.lat) && Number.isFinite(s.lon)) label(s.lat, s.lon, s.name, "site");
    for (const d of (depots || []).filter((x) => x.kind === "depot" || x.kind === "warehouse")) {
      if (Number.isFinite(d.lat) && Number.isFinite(d.lon)) label(d.lat, d.lon, d.name, "depot");
    }
    const zoomed = () => map.getContainer().classList.toggle("sites-named", map.getZoom() >= SITE_LABEL_MIN_ZOOM);
    map.on("zoomend", zoomed);
    zoomed();
    return group;
  }

  window.QFBasemap = { draw, places };
})();
