from django.urls import path

from chargeback.api import views

urlpatterns = [
    path("chargeback/", views.ChargebackView.as_view(), name="chargeback"),
    path("chargeback/focus/", views.FocusExportView.as_view(), name="chargeback-focus"),
]
