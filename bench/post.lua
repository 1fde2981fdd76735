-- wrk script: POST one row of 20 features as JSON.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"features": [0.1, -1.2, 0.3, 0.8, -0.5, 1.1, 0.0, -0.3, 0.9, 1.4, -0.7, 0.2, 0.6, -1.0, 0.4, 0.05, -0.2, 1.3, -0.9, 0.7]}'
