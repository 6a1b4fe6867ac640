# The two commands: `make demo` runs the whole system on a simulated fleet; `make test` runs the tests.
# Both set up what is missing first (virtualenv, PostgreSQL, quietfix's Mosquitto, database, migrations).
.PHONY: demo test setup lint bench-ingest screenshots

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/quietfix demo $(ARGS)

test: setup
	.venv/bin/python -m pytest $(ARGS)

lint:
	.venv/bin/ruff check core edge_agent ingest diagnostics dispatch spares planning kpis administration i18n api quietfix bench tests
	.venv/bin/mypy core edge_agent ingest diagnostics dispatch spares planning kpis administration i18n api quietfix

# README screenshots at the demo's state (scratch database, dropped after): docs/screenshots/*.png
screenshots: setup
	.venv/bin/python scripts/screenshots.py $(ARGS)
