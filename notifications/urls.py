from django.urls import path

from notifications import views

urlpatterns = [
    path("", views.inbox, name="notifications"),
    path("<int:pk>/", views.open_notification, name="notification-open"),
    path("settings/", views.preferences, name="notification-preferences"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/turn-off/", views.turn_off_webhook, name="webhook-turn-off"),
]
