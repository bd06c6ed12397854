"""The serial port as a Trio byte stream: pyserial opens and configures, Trio waits on the fd.

pyserial's own reads block a thread; instead the port is opened non-blocking and Trio's
``wait_readable`` parks the task on the file descriptor, so a hung modem costs nothing and
cancellation (per-command timeouts) is instant. A USB modem that is unplugged shows up as
EIO / end-of-file on the fd or its device node vanishing: both raise :class:`PortGone`.
"""

from __future__ import annotations

import errno
import os
import termios

import serial
import trio


class PortGone(Exception):
    """The device disappeared or cannot be opened; the link must reopen it later."""


class SerialPort:
    def __init__(self, device: str, baud: int = 115200) -> None:
        self.device = device
        self.baud = baud
        self._serial: serial.Serial | None = None
        self._fd = -1
        self._write_lock = trio.Lock()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        """Open and configure (8N1, no flow control, raw). Runs in a thread: some USB serial
        drivers block in open() while the device enumerates."""
        def _open() -> serial.Serial:
            port = serial.Serial()
            port.port = self.device
            port.baudrate = self.baud
            port.timeout = 0
            port.write_timeout = 0
            port.rtscts = False
            port.xonxoff = False
            port.exclusive = True
            port.open()
            return port
        try:
            self._serial = await trio.to_thread.run_sync(_open)
        except (serial.SerialException, OSError, ValueError) as exc:
            # pyserial's text repeats the device and wraps the OSError's ("could not open port X:
            # [Errno 2] No such file or directory: 'X'"): say it once, in words.
            errno_ = getattr(exc, "errno", None)
            reason = os.strerror(errno_) if isinstance(errno_, int) and errno_ > 0 else str(exc)
            raise PortGone(f"cannot open {self.device}: {reason}") from None
        self._fd = self._serial.fileno()
        # pyserial's timeout=0 means VMIN=0, where "no data" reads as end-of-file; with VMIN=1
        # and O_NONBLOCK an empty read is EAGAIN and a real 0-byte read means the device is gone.
        attrs = termios.tcgetattr(self._fd)
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)
        os.set_blocking(self._fd, False)
        self._serial.reset_input_buffer()

    def close(self) -> None:
        port, fd, self._serial, self._fd = self._serial, self._fd, None, -1
        if fd >= 0:
            trio.lowlevel.notify_closing(fd)   # wakes a reader parked on the fd
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def vanished(self) -> bool:
        """True when the device node is gone (USB unplug) even if the old fd still looks fine."""
        return not os.path.exists(self.device)

    async def receive(self, max_bytes: int = 4096) -> bytes:
        """Wait for and return some bytes; PortGone on EOF/EIO or a closed port."""
        while True:
            if self._fd < 0:
                raise PortGone(f"{self.device} is closed")
            try:
                data = os.read(self._fd, max_bytes)
            except BlockingIOError:
                try:
                    await trio.lowlevel.wait_readable(self._fd)
                except trio.ClosedResourceError:
                    raise PortGone(f"{self.device} was closed") from None
                continue
            except OSError as exc:
                raise PortGone(f"{self.device}: {exc.strerror or exc}") from None
            if not data:
                raise PortGone(f"{self.device}: end of file (device unplugged?)")
            return data

    async def send(self, data: bytes) -> None:
        async with self._write_lock:
            view = memoryview(data)
            while view:
                if self._fd < 0:
                    raise PortGone(f"{self.device} is closed")
                try:
                    n = os.write(self._fd, view)
                except BlockingIOError:
                    try:
                        await trio.lowlevel.wait_writable(self._fd)
                    except trio.ClosedResourceError:
                        raise PortGone(f"{self.device} was closed") from None
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF):
                        raise PortGone(f"{self.device}: {exc.strerror}") from None
                    raise PortGone(f"{self.device}: {exc}") from None
                view = view[n:]
