# tradeexec: the MCP server (streamable HTTP), the HTTP API, the CLI and the migrations in one image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tradeexec

WORKDIR /app
COPY pyproject.toml README.md settings.py cli.py cli_db.py cli_demo.py cli_market.py cli_modify.py cli_orders.py cli_replay.py ./
COPY brokers/ brokers/
COPY services/ services/
COPY db/ db/
COPY migrations/ migrations/
COPY mcp_tools/ mcp_tools/
COPY simulators/ simulators/
COPY bench/ bench/
COPY api/ api/
COPY telemetry/ telemetry/
COPY webui/ webui/
RUN pip install . && tradeexec --help > /dev/null

USER tradeexec
ENV TRADEEXEC_DATA_DIR=/home/tradeexec/.tradeexec
# Owned by tradeexec, so a named volume mounted here (compose: the shared kill-switch directory) is writable.
RUN mkdir -p /home/tradeexec/control
EXPOSE 8000 8080

# Deep check: database, schema, every configured broker (the IBKR probe uses its own client id).
HEALTHCHECK --interval=60s --timeout=45s --start-period=120s --retries=3 \
    CMD ["tradeexec", "healthcheck", "--timeout", "20"]

ENTRYPOINT ["tradeexec"]
CMD ["mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
