"""Simulated GPU nodes and kubelets for the local control plane (KWOK-style).

No container runs here: the simulator registers GPU nodes with the API server,
keeps them Ready and plays the kubelet for the pods the real scheduler binds to
them, so that quotas, LimitRanges, scheduling and preemption behave as on a GPU
cluster. It talks to the API server only through the official ``kubernetes``
client and imports nothing from Django, so ``python -m provisioning.simulator``
runs without settings; ``manage.py simulate_cluster`` wraps the same entry.
"""
