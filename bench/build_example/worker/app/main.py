"""The batch worker: summarises a day of detections into a Parquet file."""

import numpy as np
import pandas as pd

SUMMARY = "/tmp/summary.parquet"


def main() -> None:
    """Summarise random detections (the real worker reads them from S3)."""
    scores = np.random.default_rng(0).random(100)
    frame = pd.DataFrame({"camera": np.arange(100) % 7, "score": scores})
    frame.groupby("camera").score.mean().to_frame().to_parquet(SUMMARY)


if __name__ == "__main__":
    main()
