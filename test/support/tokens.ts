/**
 * Tokens for tests, recorded in the ledger the way `nimbus up` records its own (bootstrap): a token
 * minted with `mintToken` alone is refused by every service ("token is not in the ledger").
 */
import { bootstrapToken } from "../../src/auth/mint.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import type { TokenRequest } from "../../src/auth/tokens.ts";
import { connectNats, type NatsOptions } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";

/** A recorded token, signed with `secret`, via the NATS server at `natsUrl`. */
export async function recordedToken(natsUrl: string, secret: string, r: TokenRequest, natsAuth: Partial<Pick<NatsOptions, "user" | "password" | "token" | "credentials">> = {}): Promise<string> {
  const nc = await connectNats({ url: natsUrl, ...natsAuth, name: "test-tokens" });
  try {
    return (await bootstrapToken({ secret, ledger: new TokenLedger(await ensureTokenLedger(nc)) }, r)).token;
  } finally {
    await nc.close();
  }
}
