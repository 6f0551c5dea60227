// Runs in a scratch app that installed the packed tarball twice: as particle-sync and under
// another name (particle-alias). Exercises every subpath from outside the repository.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Window } from 'happy-dom';
import { WebSocket } from 'ws';

const names = process.argv.slice(2);
for (const name of names) {
  const protocol = await import(`${name}/protocol`);
  const { Stream, MemoryAdapter, particleMiddleware } = await import(`${name}/server`);
  const { MongoAdapter } = await import(`${name}/server/mongo`);
  const { Collector } = await import(`${name}/client`);
  assert.equal(typeof protocol.schemas, 'object', `${name}/protocol exports schemas`);
  assert.equal(typeof MongoAdapter, 'function', `${name}/server/mongo exports MongoAdapter`);
  const { Scopes, MemoryScopeStore } = await import(`${name}/storage`);
  const scopes = new Scopes({ store: new MemoryScopeStore() });
  assert.equal(await scopes.scoped('global', (s) => (s.count = (s.count ?? 0) + 1)), 1);
  const { RedisScopeStore } = await import(`${name}/storage/redis`);
  const { MySqlScopeStore } = await import(`${name}/storage/mysql`);
  assert.equal(typeof RedisScopeStore, 'function', `${name}/storage/redis exports RedisScopeStore`);
  assert.equal(typeof MySqlScopeStore, 'function', `${name}/storage/mysql exports MySqlScopeStore`);

  const adapter = new MemoryAdapter({ collections: { users: [{ _id: 1, name: 'Ann' }] } });
  const stream = new Stream({
    adapter,
    dataSources: { users: { collection: 'users', criteria: undefined, manifest: true } },
  });
  const server = createServer();
  particleMiddleware(stream, { path: '/particle' }).attach(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${server.address().port}/particle`;

  const collector = new Collector({ url, identity: {}, WebSocket });
  await collector.ready();
  assert.deepEqual(collector.data.users, [{ _id: 1, name: 'Ann' }]);

  // React, in a DOM, with a Collector made by the client subpath.
  const window = new Window({ url: 'http://127.0.0.1/' });
  Object.assign(globalThis, { window, document: window.document, navigator: window.navigator });
  const React = await import('react');
  const { createRoot } = await import('react-dom/client');
  const { ParticleProvider, useParticle } = await import(`${name}/react`);
  const Users = () => {
    const users = useParticle('users');
    return React.createElement('p', null, users ? users.map((u) => u.name).join(',') : 'loading');
  };
  const container = window.document.createElement('div');
  window.document.body.appendChild(container);
  const root = createRoot(container);
  root.render(React.createElement(ParticleProvider, { collector }, React.createElement(Users)));
  await waitFor(
    () => container.textContent === 'Ann',
    () => container.textContent,
  );
  adapter.insert('users', { _id: 2, name: 'Ben' });
  await waitFor(
    () => container.textContent === 'Ann,Ben',
    () => container.textContent,
  );
  root.unmount();
  collector.disconnect();
  await stream.disconnect();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await window.happyDOM.close();
  console.log(
    `${name}: protocol, server, server/mongo, storage (+redis, mysql), client over a socket, react render: ok`,
  );
}

async function waitFor(predicate, describe) {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out; saw ${JSON.stringify(describe())}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
