"""Every actor module; `dramatiq tasks.actors` imports them all."""

from tasks.actors import fulfil_checkout, record_delivery, retry_dead_letters, send_test_webhook, subscribe

__all__ = ["fulfil_checkout", "record_delivery", "retry_dead_letters", "send_test_webhook", "subscribe"]
