// A server that reads each request's body and answers 200 at once, in a process of its own: the same
// load generator pointed at it shows what this machine and the generator add to any latency (the floor
// under the collector's numbers, measured in the same run).
import { spawn } from 'node:child_process';

const serverSource = `
const server = require('node:http').createServer((request, response) => {
  request.on('data', () => undefined);
  request.on('end', () => response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}'));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

export interface NullServer {
  url: string;
  stop(): Promise<void>;
}

export function startNullServer(): Promise<NullServer> {
  const child = spawn(process.execPath, ['-e', serverSource], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error('the null server exited before it listened')));
    child.stdout.once('data', (data: Buffer) =>
      resolve({
        url: `http://127.0.0.1:${data.toString().trim()}`,
        async stop() {
          child.kill();
          await exited;
        },
      }),
    );
  });
}
