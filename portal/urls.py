"""Root URLs."""

from django.contrib import admin
from django.urls import path

admin.site.site_header = "GPU Quota Portal administration"
admin.site.site_title = "GPU Quota Portal"

urlpatterns = [
    path("admin/", admin.site.urls),
]
