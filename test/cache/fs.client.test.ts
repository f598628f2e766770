import { clientSuite } from "./client-suite.ts";
import { startTestCache } from "./support/service.ts";

clientSuite("the filesystem", () => startTestCache());
