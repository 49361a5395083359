"""Copy the fresh buys of tracked Polymarket wallets; exit when they sell, or on take-profit or stop-loss."""

from strategies.sdk import BaseStrategy, EntrySignal, ExitSignal


class CopyTrader(BaseStrategy):
    async def should_enter(self, ctx):
        poly = await ctx.polymarket
        copied = set(ctx.state.get("copied_trade_ids", []))
        sold = ctx.state.get("sold_by_wallet", [])  # tokens a wallet sold after we copied its buy: we sell too
        held = {position.market_id for position in ctx.positions}
        signals = []
        for wallet in self.get_param("tracked_traders", []):
            trades = await poly.get_trade_history(maker_address=wallet, limit=20)
            for trade in trades:
                trade_id = str(trade.get("transactionHash") or trade.get("id"))
                if trade_id in copied:
                    continue
                copied.add(trade_id)  # seen once is enough, whether we follow it or not
                price = float(trade.get("price", 0))
                market_id = str(trade.get("asset"))
                if trade.get("side") == "SELL" and market_id in held and market_id not in sold:
                    sold.append(market_id)
                if trade.get("side") != "BUY" or market_id in held or not 0 < price <= self.get_param("max_entry_price", 0.9):
                    continue
                size = float(trade.get("size", 0)) * price * self.get_param("copy_percentage", 0.5)
                signals.append(
                    EntrySignal(
                        market_id=market_id,
                        side="yes" if str(trade.get("outcome", "Yes")).lower() in ("yes", "up") else "no",
                        reason=f"{wallet[:10]}… bought at {price:.3f}",
                        confidence=min(0.95, price + 0.05),
                        market_name=trade.get("title", ""),
                        size_usd=round(size, 2) if size > 0 else None,
                        limit_price=round(min(0.99, price + 0.01), 2),
                    )
                )
                held.add(market_id)
        ctx.state["copied_trade_ids"] = sorted(copied)[-500:]
        sold = [token for token in sold if token in held]  # until our position in it is closed
        if sold:
            ctx.state["sold_by_wallet"] = sold
        else:
            ctx.state.pop("sold_by_wallet", None)
        ctx.log(f"checked {len(self.get_param('tracked_traders', []))} wallets, {len(signals)} new entries")
        return signals

    def should_exit(self, ctx, position):
        if position.size <= 0:
            return None
        change = position.unrealized_pnl / position.size
        if position.market_id in ctx.state.get("sold_by_wallet", []):
            return ExitSignal(position.position_id, reason=f"the wallet sold, at {change:+.0%}")
        if change >= self.get_param("take_profit", 0.25):
            return ExitSignal(position.position_id, reason=f"take profit at {change:+.0%}")
        if change <= -self.get_param("stop_loss", 0.15):
            return ExitSignal(position.position_id, reason=f"stop loss at {change:+.0%}")
        return None
