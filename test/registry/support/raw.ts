/** HTTP over a bare socket: paths a fetch client would normalise, and bodies cut off mid-way. */
import { connect } from "node:net";

/** Send `head` (request line and headers, no blank line) and `body`; close after `body` when `cut`. Returns the status (0 if none). */
export function rawRequest(hostPort: string, head: string, body: Uint8Array | string = "", cut = false): Promise<{ status: number; text: string }> {
  const [host, port] = hostPort.split(":");
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), host!, () => {
      sock.write(`${head}\r\nHost: ${hostPort}\r\nConnection: close\r\n\r\n`);
      if (body.length) sock.write(body);
      if (cut) setTimeout(() => sock.destroy(), 50);
    });
    let text = "";
    sock.on("data", (d) => (text += d.toString("latin1")));
    sock.on("error", (e) => (cut ? resolve({ status: 0, text }) : reject(e)));
    sock.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}
