"""Chargeback reports over usage samples and rates."""
