// A child process for transport end-to-end tests; filled in with the transport's I/O shell.
print("TransportProbe: not yet wired")
