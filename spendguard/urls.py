from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.static import serve

from spendguard.api import api

admin.site.site_header = "SpendGuard Cloud"
admin.site.site_title = "SpendGuard Cloud"

urlpatterns = [
    path("admin/", admin.site.urls),
    # The admin's own CSS/JS, collected by `collectstatic`. A handful of staff browsers is the only
    # load, so Django serves them itself rather than adding a middleware to every proxied call.
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
    path("", api.urls),
]
