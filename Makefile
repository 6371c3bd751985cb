# Shortcuts; the scripts work without make.
.PHONY: dev test lint
dev:
	bash scripts/start.sh
test:
	bash scripts/test.sh
lint:
	bash scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/mypy .
