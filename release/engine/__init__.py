"""The engine: observe what the selection runs (batched) -> a Plan value -> dry run | apply
-> results. Commands build options, call it and render what it returns; the target kinds
live in ``engine.targets``, one module each."""
