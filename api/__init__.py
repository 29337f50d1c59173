"""The trade service over HTTP (FastAPI): `tradeexec api`, or `api.app.create_app` / `api_router` to mount."""
