from django.urls import path

from teams import views

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/", views.dashboard, name="dashboard"),
]
