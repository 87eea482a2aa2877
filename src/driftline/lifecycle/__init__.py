"""The model lifecycle: baseline capture, training (trainers), the MLflow registry adapter,
champion/challenger benchmark, promotion gates (pure), promotion actions and the audit trail."""
