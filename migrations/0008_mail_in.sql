-- Mail in: a reply naming the customer's first mail in its References finds the complaint by that Message-ID
-- (the outbox's own Message-IDs have their index since 0006).
CREATE INDEX complaints_customer_message_id ON complaints (customer_message_id) WHERE customer_message_id IS NOT NULL;
