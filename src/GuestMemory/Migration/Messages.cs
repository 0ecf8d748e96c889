namespace GuestMemory.Migration;

/// <summary>REFUSE and ABORT: the sender's typed error (a <see cref="GmmError"/> code) and its message.</summary>
internal readonly record struct Failure(GmmError Error, string Message)
{
    public static Failure Of(GmmException e) => new(e.Error, e.Message);

    public void WriteTo(WireWriter w) => w.U32((uint)Error).Text(Message);

    public static Failure Read(ReadOnlySpan<byte> payload, string message)
    {
        var r = new WireReader(payload, message);
        var failure = new Failure((GmmError)r.U32(), r.Text());
        r.End();
        return failure;
    }

    /// <summary>The peer's error as an exception of its own code, to be the inner exception of the local one.</summary>
    public GmmException ToException() => MigrationErrors.Remote(Error, Message);
}

/// <summary>ACCEPT: the target's version and whether it takes content references for this VM (it shares pages).</summary>
internal readonly record struct Acceptance(bool ContentReferences)
{
    public void WriteTo(WireWriter w) => w.U32(MigrationProtocol.Version).U8(ContentReferences ? (byte)1 : (byte)0);

    public static Acceptance Read(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "ACCEPT");
        uint version = r.U32();
        if (version != MigrationProtocol.Version) throw MigrationErrors.Version(version);
        bool references = r.U8() != 0;
        r.End();
        return new Acceptance(references);
    }
}

/// <summary>
/// What one pass sent, page by page: every RAM and ROM page of the layout exactly once, as one of these
/// kinds. PEND carries the source's figures; the target counts what it applied and compares.
/// </summary>
internal struct PassRecords
{
    public long Zero, Ballooned, Skipped, Raw, Rom, References, Duplicates;

    /// <summary>Pages the pass covered.</summary>
    public readonly long Pages => Zero + Ballooned + Skipped + Raw + Rom + References + Duplicates;

    /// <summary>Pages whose 4 KiB crossed the wire.</summary>
    public readonly long WithData => Raw + Rom;

    public readonly void WriteTo(WireWriter w) => w.I64(Zero).I64(Ballooned).I64(Skipped).I64(Raw).I64(Rom).I64(References).I64(Duplicates);

    public static PassRecords Read(ref WireReader r) => new()
    {
        Zero = r.I64(), Ballooned = r.I64(), Skipped = r.I64(), Raw = r.I64(), Rom = r.I64(), References = r.I64(), Duplicates = r.I64(),
    };

    public override readonly string ToString() =>
        $"{Zero} zero, {Ballooned} ballooned, {Skipped} skipped, {Raw} raw, {Rom} ROM, {References} references, {Duplicates} duplicates";
}

/// <summary>PEND: the number of the pass that just covered every page, whether it was the final one, and its records.</summary>
internal readonly record struct PassEnd(uint Pass, bool Final, PassRecords Records)
{
    public void WriteTo(WireWriter w)
    {
        w.U32(Pass).U8(Final ? (byte)1 : (byte)0);
        Records.WriteTo(w);
    }

    public static PassEnd Read(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "PASS_END");
        uint pass = r.U32();
        bool final = r.U8() != 0;
        PassRecords records = PassRecords.Read(ref r);
        r.End();
        return new PassEnd(pass, final, records);
    }
}

/// <summary>CMIT: the image is complete: its passes, its number (1 for a move; a mirror's checkpoints count 1, 2, ...) and its figures.</summary>
internal readonly record struct CommitRequest(uint Passes, uint Checkpoint, long NonZeroPages, long BalloonedPages)
{
    public void WriteTo(WireWriter w) => w.U32(Passes).U32(Checkpoint).I64(NonZeroPages).I64(BalloonedPages);

    public static CommitRequest Read(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "COMMIT");
        var commit = new CommitRequest(r.U32(), r.U32(), r.I64(), r.I64());
        r.End();
        return commit;
    }
}

/// <summary>CMTD: the target committed image <see cref="Checkpoint"/> and how long the commit took (for the report).</summary>
internal readonly record struct CommitDone(uint Checkpoint, long CommitMicroseconds)
{
    public void WriteTo(WireWriter w) => w.U32(Checkpoint).I64(CommitMicroseconds);

    public static CommitDone Read(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "COMMITTED");
        var done = new CommitDone(r.U32(), r.I64());
        r.End();
        return done;
    }
}

/// <summary>A frame whose payload is one u32 (STOP: the final pass's number).</summary>
internal static class NumberMessage
{
    public static void WriteTo(WireWriter w, uint value) => w.U32(value);

    public static uint Read(ReadOnlySpan<byte> payload, string message)
    {
        var r = new WireReader(payload, message);
        uint value = r.U32();
        r.End();
        return value;
    }
}
