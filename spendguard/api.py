"""The one NinjaAPI, assembled from each app's routers."""

from ninja import NinjaAPI

from apps.budgets.api import router as agents_router
from apps.core.api import router as health_router
from apps.core.errors import StrictJSONParser, install_error_handlers
from apps.gateway.api import router as gateway_router
from apps.pricing.api import router as public_pricing_router

api = NinjaAPI(title="SpendGuard Cloud", version="1", urls_namespace="api", docs_url="/docs", parser=StrictJSONParser())
install_error_handlers(api)

api.add_router("", health_router)
api.add_router("/v1/agents", agents_router)
api.add_router("/v1/public/pricing", public_pricing_router)
api.add_router("", gateway_router)
