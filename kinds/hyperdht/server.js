'use strict'
// natlab's public host for the hyperdht kind: a closed DHT (a bootstrap node
// and more public nodes on both of the host's addresses, as hyperdht's own
// testnet builds one) and a blind relay (blind-relay, what hyperdht's
// relayThrough pairs through). Writes what the peers need to
// $NATLAB_SHARED_DIR/hyperdht.json, last, when everything is announced.
const fs = require('fs')
const path = require('path')
const DHT = require('hyperdht')
const RelayServer = require('blind-relay').Server

const BOOTSTRAP_PORT = 49737
const NODES_PER_ADDRESS = 5 // 10 nodes: NAT sampling skips the 5 latest once it knows 8
const RELAY_PORT = 49749
const RELAY_SEED = Buffer.alloc(32, 'natlab-hyperdht-blind-relay!!!!!')

const log = (...a) => console.error('hyperdht-server:', ...a)

function env(name) {
  const v = process.env[name]
  if (!v) {
    console.error(`hyperdht-server: ${name} is not set (the runner sets it: docs/agents.md)`)
    process.exit(2)
  }
  return v
}

async function main() {
  const ip1 = env('NATLAB_SERVER_IP')
  const ip2 = process.env.NATLAB_SERVER_IP2 || ip1
  const shared = env('NATLAB_SHARED_DIR')
  const nodes = []

  const boot = DHT.bootstrapper(BOOTSTRAP_PORT, ip1, { host: ip1 })
  nodes.push(boot)
  await boot.fullyBootstrapped()
  const bootstrap = [{ host: ip1, port: BOOTSTRAP_PORT }]

  for (const host of [ip1, ip2]) {
    for (let i = host === ip1 ? 1 : 0; i < NODES_PER_ADDRESS; i++) {
      const port = BOOTSTRAP_PORT + i
      const node = new DHT({ bootstrap, host, port, anyPort: false, ephemeral: false, firewalled: false })
      nodes.push(node)
      await node.fullyBootstrapped()
    }
  }

  const relayDht = new DHT({
    bootstrap,
    host: ip1,
    port: RELAY_PORT,
    anyPort: false,
    ephemeral: false,
    firewalled: false
  })
  nodes.push(relayDht)
  await relayDht.fullyBootstrapped()
  const relay = new RelayServer({
    createStream(opts) {
      return relayDht.createRawStream({ ...opts, framed: true })
    }
  })
  const relayServer = relayDht.createServer((socket) => {
    const session = relay.accept(socket, { id: socket.remotePublicKey })
    session.on('error', (err) => log('relay session:', err.message))
    socket.on('error', () => {})
  })
  await relayServer.listen(DHT.keyPair(RELAY_SEED))

  const info = {
    bootstrap,
    relay: relayServer.publicKey.toString('hex'),
    relayAddress: { host: ip1, port: RELAY_PORT },
    nodes: nodes.map((n) => n.address())
  }
  const file = path.join(shared, 'hyperdht.json')
  fs.writeFileSync(file + '.tmp', JSON.stringify(info) + '\n')
  fs.renameSync(file + '.tmp', file)
  log(`ready: ${nodes.length} DHT nodes, blind relay ${info.relay.slice(0, 16)}... at ${ip1}:${RELAY_PORT}`)

  const statsTimer = setInterval(() => {
    log('relay stats', JSON.stringify(relay.stats))
  }, 60000)

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    clearInterval(statsTimer)
    setTimeout(() => process.exit(0), 2000).unref()
    try {
      await relay.close()
      for (let i = nodes.length - 1; i >= 0; i--) await nodes[i].destroy({ force: true })
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  console.error('hyperdht-server: failed:', err && err.stack ? err.stack : err)
  process.exit(1)
})
