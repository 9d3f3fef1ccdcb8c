"""Review notifications: written to an outbox in the transaction of the workflow step (``outbox``), delivered
afterwards by e-mail and webhook outside any request, with retries (``delivery``, ``dispatcher``)."""
