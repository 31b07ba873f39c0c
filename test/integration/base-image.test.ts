import { expect } from 'chai';
import { docker, requireDocker } from '../support/docker.js';

describe('the local base image', () => {
  before(requireDocker);

  it('polarise/base:bookworm exists and a container from it runs a command', async () => {
    const image = await docker.getImage('polarise/base:bookworm').inspect();
    expect(image.Os).to.equal('linux');
    const container = await docker.createContainer({
      Image: 'polarise/base:bookworm',
      Cmd: ['sh', '-c', 'test -x /usr/lib/openssh/sftp-server && ps --version >/dev/null && echo ok'],
      HostConfig: { AutoRemove: false, NetworkMode: 'none' },
    });
    try {
      await container.start();
      const { StatusCode } = await container.wait();
      const logs = (await container.logs({ stdout: true, stderr: true })).toString();
      expect(StatusCode, logs).to.equal(0);
      expect(logs).to.include('ok');
    } finally {
      await container.remove({ force: true });
    }
  });
});
