"""Cut a favourite that stops being one; otherwise hold to settlement."""

from strategies.sdk import ExitSignal


def should_exit(ctx, position):
    if position.current_price is not None and position.current_price < ctx.params.get("exit_below", 0.7):
        return ExitSignal(position.position_id, reason=f"no longer a favourite at {position.current_price:.2f}")
    return None
