using System.Buffers.Binary;

namespace GuestMemory.Qemu;

/// <summary>
/// The target QEMU's answer on its return path (opened by <see cref="QemuStreamWriter.WriteOpenReturnPath"/>):
/// after loading the whole stream it sends "shut" with 0; when the load fails (another machine type, RAM
/// blocks or devices) it exits without a word, which is how a mismatch is told from a success.
/// </summary>
public static class ReturnPath
{
    /// <summary>Reads the target's messages until its "shut"; returns its value (0: loaded), or null when the connection closed without one.</summary>
    public static async Task<uint?> ReadShutAsync(System.IO.Stream stream, TimeSpan timeout, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(timeout);
        byte[] header = new byte[4];
        byte[] body = new byte[ushort.MaxValue];
        try
        {
            while (true)
            {
                if (!await ReadExactlyAsync(stream, header, deadline.Token).ConfigureAwait(false)) return null;
                ushort type = BinaryPrimitives.ReadUInt16BigEndian(header);
                ushort length = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2));
                if (!await ReadExactlyAsync(stream, body.AsMemory(0, length), deadline.Token).ConfigureAwait(false)) return null;
                if (type == QemuStreamFormat.ReturnShut && length == 4) return BinaryPrimitives.ReadUInt32BigEndian(body);
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new QemuException(QemuError.Timeout, $"the target QEMU did not answer within {timeout.TotalSeconds:0} s of the stream's end");
        }
        catch (IOException)
        {
            return null; // reset by a QEMU that refused the stream and exited
        }
    }

    private static async Task<bool> ReadExactlyAsync(System.IO.Stream stream, Memory<byte> buffer, CancellationToken cancel)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[done..], cancel).ConfigureAwait(false);
            if (n == 0) return false;
            done += n;
        }
        return true;
    }
}
