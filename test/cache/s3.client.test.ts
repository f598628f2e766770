import { afterAll, beforeAll } from "bun:test";
import { clientSuite } from "./client-suite.ts";
import { startS3, type S3Server } from "./support/s3.ts";
import { startTestCache } from "./support/service.ts";

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3.cleanup();
});

clientSuite("S3 (s3rver)", () => startTestCache({ s3 }));
