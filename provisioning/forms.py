"""The form an approver connects a cluster with; what it accepts is checked by provisioning.connections."""

from django import forms

from provisioning.connections import Source
from teams.limits import MAX_KUBECONFIG_BYTES


class ConnectionForm(forms.Form):
    """Where a cluster's credentials come from. The fields are only collected here: the connection
    service checks them, so the page, the command and any other caller refuse the same input alike."""

    UPLOAD, PATH, IN_CLUSTER = "upload", "path", "in_cluster"

    name = forms.CharField(required=False, help_text="A DNS label, in URLs, the API and metrics: e.g. gpu-eu-west.")
    description = forms.CharField(required=False, help_text="What it is for, e.g. inference in eu-west.")
    source = forms.ChoiceField(
        choices=[
            (UPLOAD, "Upload a kubeconfig (stored encrypted, never shown again)"),
            (PATH, "A kubeconfig file on the portal's machines"),
            (IN_CLUSTER, "In-cluster: the pod's ServiceAccount"),
        ],
        widget=forms.RadioSelect,
        initial=UPLOAD,
        label="Credentials",
    )
    kubeconfig = forms.FileField(required=False, label="Kubeconfig file", allow_empty_file=True)
    kubeconfig_path = forms.CharField(required=False, label="Kubeconfig path", help_text="Absolute path.")
    context = forms.CharField(required=False, help_text="Context in the kubeconfig; empty: its current context.")

    def __init__(self, *args, naming: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not naming:  # changing a connection keeps the cluster's name and description
            del self.fields["name"]
            del self.fields["description"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("source") == self.PATH and not data.get("kubeconfig_path", "").strip():
            self.add_error("kubeconfig_path", "Give the kubeconfig's absolute path.")
        return data

    def to_source(self) -> Source:
        data = self.cleaned_data
        context = data.get("context", "").strip()
        if data["source"] == self.IN_CLUSTER:
            return Source(in_cluster=True, context=context)
        if data["source"] == self.PATH:
            return Source(kubeconfig_path=data.get("kubeconfig_path", "").strip(), context=context)
        upload = data.get("kubeconfig")
        # One byte past the bound is enough for the service to refuse it, without reading a huge upload.
        return Source(kubeconfig=upload.read(MAX_KUBECONFIG_BYTES + 1) if upload else b"", context=context)

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put the service's errors on the fields they name; others on the form as a whole."""
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
