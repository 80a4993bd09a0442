#!/bin/sh
# quetzal: scores one input with the model of this environment.
# Placeholder: echoes which model it would load (MODEL_PREFIX, set per
# environment) and the input it was given.
event=$(cat)
input=$(printf '%s' "$event" | sed -n 's/.*"input" *: *"\([^"]*\)".*/\1/p')
printf '{"model_prefix":"%s","model_name":"%s","input":"%s","score":0.5}\n' \
  "${MODEL_PREFIX:-unset}" "${MODEL_NAME:-unset}" "${input:-none}"
