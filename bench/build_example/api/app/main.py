"""The predictions API: a Flask app served by gunicorn, scoring with a scikit-learn model."""

import numpy as np
from flask import Flask, jsonify, request
from pydantic import BaseModel
from sklearn.linear_model import LogisticRegression

GREETING = "predictions api"

app = Flask(__name__)
# The real service loads its trained model from S3 at start; this one fits a toy model.
model = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))


class Prediction(BaseModel):
    """What /predict answers."""

    service: str
    label: int


@app.post("/predict")
def predict() -> object:
    """Score one value."""
    value = float(request.get_json()["value"])
    label = int(model.predict(np.array([[value]]))[0])
    return jsonify(Prediction(service=GREETING, label=label).model_dump())


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8080)  # noqa: S104
