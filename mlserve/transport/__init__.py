"""Everything that touches uvicorn's internals, behind `run.serve()`: the guarded HTTP
protocols (`protocol`), whole-body reads (`wholebody`) and one write per response
(`onewrite`). Read this folder first when uvicorn's pin moves."""
