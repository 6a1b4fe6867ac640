from bench.dispatch_day import Config, preventive_world, simulate
from dispatch import Location
from planning.preventive import PREVENTIVE_PREFIX, PreventiveTask, slot, spare_technicians

H = 3600.0


def task(i: str, due_h: float = 72, dur_h: float = 1.0) -> PreventiveTask:
    return PreventiveTask(i, Location(48.1, 11.5), frozenset({"hvac"}), dur_h * H, due_h * H, "inspection")


def test_spare_technicians_keep_a_reserve_for_emergencies() -> None:
    spare = spare_technicians([0.0, 4.0, 10.0], [10, 10, 10], busy_h_per_job=1.5)
    assert spare == [8.0, 2.0, 0.0]


def test_visits_go_to_the_quietest_hours_and_use_up_their_spare() -> None:
    hours = [h * H for h in range(6)]
    spare = [0.0, 3.0, 1.0, 0.0, 2.0, 0.0]
    jobs, deferred = slot([task("a"), task("b"), task("c"), task("d"), task("e"), task("f"), task("g")], hours,
                          spare, now=0.0)
    starts = sorted(j.window[0] / H for j in jobs)
    assert starts == [1, 1, 1, 2, 4, 4] and [t.id for t in deferred] == ["g"]
    j = jobs[0]
    assert j.id.startswith(PREVENTIVE_PREFIX) and j.tier == "bronze" and j.window[1] - j.window[0] == 2 * H
    assert j.onsite_deadline >= j.window[1]  # no lateness cost inside its window


def test_a_visit_is_not_slotted_after_it_is_due_or_across_busy_hours() -> None:
    hours = [h * H for h in range(4)]
    jobs, deferred = slot([task("late", due_h=1.5)], hours, [0.0, 0.0, 5.0, 5.0], now=0.0)
    assert jobs == [] and len(deferred) == 1
    jobs, _ = slot([task("long", dur_h=2.0)], hours, [5.0, 0.0, 5.0, 5.0], now=0.0)
    assert [j.window[0] / H for j in jobs] == [2]


def test_day_simulation_scores_emergencies_apart_from_preventive_visits() -> None:
    cfg = Config(technicians=8, seed=2, rate_per_h=3, arrival_hours=3, shift_h=6)
    techs, jobs = preventive_world(cfg, 4)
    visits = [j for j in jobs if j.id.startswith(PREVENTIVE_PREFIX)]
    assert visits and all(j.window is not None for j in visits)
    out = simulate(cfg, "baseline", world=(techs, jobs))
    assert out["jobs"] == len(jobs) - len(visits) and out["preventive"] == len(visits)
    assert out["preventive_in_window"] <= out["preventive_done"] <= len(visits)


def test_preventive_order_windows_and_keys() -> None:
    from planning.preventive import (
        DAY,
        RUL_MIN_LEAD_S,
        inspection_key,
        inspection_window,
        rul_key,
        rul_window,
    )

    now = 1_767_225_600.0
    assert inspection_window(now + 10 * DAY, 14, now) == (now + 3 * DAY, now + 18 * DAY)
    assert inspection_window(now - 30 * DAY, 14, now) == (now, now + 7 * DAY)  # overdue: from now, half window
    assert rul_window(now + 36 * 3600, now + 72 * 3600, now) == (now, now + 36 * 3600 - RUL_MIN_LEAD_S)
    assert rul_window(None, now + 3600, now) == (now, now + RUL_MIN_LEAD_S)  # imminent: still a few hours
    assert inspection_key(3, "2026-01-05", "d1") == "insp:3:2026-01-05:d1" and rul_key("d1", "x") == "rul:d1:x"
