-- Promises to pay that collections valued as broken (a reopened or later valuation replaces it).
CREATE TABLE broken_promises (
    customer_id text NOT NULL,
    promise_id  text NOT NULL,
    broken_on   date NOT NULL,
    PRIMARY KEY (customer_id, promise_id)
);
