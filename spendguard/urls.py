from django.contrib import admin
from django.urls import path

from spendguard.api import api

admin.site.site_header = "SpendGuard Cloud"
admin.site.site_title = "SpendGuard Cloud"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", api.urls),
]
