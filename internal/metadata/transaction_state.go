package metadata

// TransactionStateTopic is the internal topic holding the transaction
// coordinator's state (Kafka's __transaction_state).
const TransactionStateTopic = "__transaction_state"
