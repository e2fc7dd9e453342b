-- wrk: the same POST /checkout as bench/campaign/checkout-load.yaml.
-- Non-2xx answers are counted by wrk itself ("Non-2xx or 3xx responses").
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customerId": "cust-load", "items": [{"sku": "SKU-1001", "quantity": 1, "price": 99.99}], "payment": {"method": "card", "cardToken": "tok_visa"}}'
