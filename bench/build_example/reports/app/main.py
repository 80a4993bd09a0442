"""The nightly report: renders last night's figures and a chart, then uploads them to S3."""

import sys

import boto3
import jinja2
import matplotlib as mpl
import yaml

TEMPLATE = "<h1>{{ title }}</h1><p>{{ detections }} detections</p>"


def main() -> None:
    """Render the report (the real job draws the chart and uploads both with boto3)."""
    figures = yaml.safe_load("title: nightly\ndetections: 42\n")
    page = jinja2.Template(TEMPLATE).render(**figures)
    sys.stdout.write(f"{page} (boto3 {boto3.__version__}, matplotlib {mpl.__version__})\n")


if __name__ == "__main__":
    main()
