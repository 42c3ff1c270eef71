"""Making the cluster match the desired state: manifests, the cluster gateway, Celery tasks, usage."""
