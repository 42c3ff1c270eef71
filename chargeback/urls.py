from django.urls import path

from chargeback import views

app_name = "chargeback"
urlpatterns = [
    path("", views.report, name="report"),
    path("periods/", views.periods, name="periods"),
]
