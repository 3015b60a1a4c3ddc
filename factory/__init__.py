"""ParaLoupe factory: the offline pipeline (DVC stages tracked in MLflow) that builds the deployment bundle.

It may import ``runtime`` (decoding, features, evaluator exist once); ``runtime`` never imports it.
"""
