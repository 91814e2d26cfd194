"""The station's MQTT link: intake of signed jobs and commands, the outbox flusher."""
