// Whether an exec command is a file-transfer protocol's server end (scp's
// legacy protocol, rsync): its channel carries a file protocol, not a
// screen, and is audited (session.command) rather than recorded, as the
// sftp subsystem is (docs/RECORDINGS.md).
#pragma once

#include <string_view>

namespace jitgate {

// True only for `scp` with -t or -f, or `rsync` with --server (any path
// before the program name), in a command that holds nothing a shell would
// read as more than words: no quotes, no ; | & $ ` ( ) < > * ? and the like,
// no newline. Anything else is recorded.
bool fileTransferCommand(std::string_view command);

}  // namespace jitgate
