"""The local cloud's Lambda runtime: ``Invoke`` on an image function runs its image.

- ``runtime_api``: the Lambda Runtime API (2018-06-01) one execution environment's
  bootstrap talks to: ``/runtime/invocation/next``, ``.../{id}/response``, ``.../{id}/error``,
  ``/runtime/init/error``.
- ``environment``: an execution environment on the local engine: a pause container with
  ``--network none`` owns a network namespace, the Runtime API listens on 127.0.0.1:9001
  inside it, the function's container joins it.
- ``pool``: warm environments per function version, one invocation at a time each, stopped
  when idle, on reset and on close.
- ``invoke``: the front's route for ``POST /2015-03-31/functions/{name}/invocations``: the
  function's configuration read from moto, the version chosen (alias weights), Lambda's
  answer (payload, ``X-Amz-Function-Error``, ``X-Amz-Log-Result``, ``X-Amz-Executed-Version``).
"""
