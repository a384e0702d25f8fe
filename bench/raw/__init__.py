"""Raw baselines: the same I/O as a Credo hot path with nothing else (no auth, no validation, no
events library), on the same server (uvicorn, uvloop, httptools) and the same PostgreSQL, so that
``bench.ratios`` can put Credo's figures next to the limit of the work itself."""
