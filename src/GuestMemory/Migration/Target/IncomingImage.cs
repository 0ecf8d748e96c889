using System.Buffers.Binary;
using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration.Target;

/// <summary>
/// One image being received (a move's, or one mirror checkpoint's), staged beside the VM's own image
/// exactly as a restore stages a saved state (<see cref="StagedImage"/>): the records of PAGE frames
/// are applied in page order, each pass is checked at PASS_END, and nothing is visible to the VM until
/// <see cref="Commit"/> swaps every changed entry in at once. Any error, or a connection that drops,
/// ends in <see cref="Discard"/>, which frees every staged page and reference.
/// </summary>
/// <remarks>
/// Beside the saved-state records a migration stream has CONTENT_REF (a content the target promised in
/// a hash answer: referenced from the <see cref="ContentTable"/>) and DUPLICATE (a content sent earlier
/// in this image for another page: that page's staged copy is checked against the key, moved onto a
/// shared page, and both pages reference it). Owned by the session's thread.
/// </remarks>
internal sealed class IncomingImage
{
    private readonly VirtualMachine _vm;
    private readonly ReservationLease _lease;
    private readonly StagedImage _image;
    private PassRecords _records;
    private uint _pass = 1;
    private bool _passEnded;
    private bool _finalEnded;

    public IncomingImage(VirtualMachine vm, MemoryRange[] ranges, bool incremental)
    {
        _vm = vm;
        _lease = new ReservationLease(vm);
        _image = new StagedImage(vm, ranges, _lease, incremental);
        Table = new ContentTable(vm);
    }

    /// <summary>The contents promised to the source for this image.</summary>
    public ContentTable Table { get; }

    /// <summary>Pages whose bytes arrived (RAW and ROM records), over all passes.</summary>
    public long PagesWithData { get; private set; }

    /// <summary>Pages that arrived as CONTENT_REF or DUPLICATE, over all passes.</summary>
    public long PagesByReference { get; private set; }

    /// <summary>The passes received so far.</summary>
    public uint Passes => _pass;

    /// <summary>True once the current pass's PASS_END arrived (the next record must begin a pass).</summary>
    public bool PassEnded => _passEnded;

    /// <summary>Applies the records of one PAGE frame.</summary>
    public void ApplyPages(ReadOnlySpan<byte> payload, uint frame)
    {
        for (int at = 0; at < payload.Length;)
        {
            at += RecordParser.Parse(payload[at..], migration: true, "frame", frame, out StateRecord record);
            Apply(record);
        }
    }

    /// <summary>Checks a PASS_END: the pass it names, every page covered, and the source's figures against what was applied.</summary>
    public void EndPass(PassEnd end)
    {
        if (end.Pass != _pass || _passEnded) throw MigrationErrors.Corrupt($"PASS_END for pass {end.Pass} while pass {_pass} is {(_passEnded ? "already ended" : "open")}");
        _image.CheckPassComplete();
        if (!end.Records.Equals(_records)) throw MigrationErrors.Corrupt($"pass {_pass} sent {end.Records}; the target applied {_records}");
        _passEnded = true;
        _finalEnded = end.Final;
    }

    /// <summary>
    /// Checks the image's figures and swaps it in. The table and the reservation lease are given back by
    /// <see cref="ReleaseHeld"/>, after the source has been answered: that work is not part of the guest's downtime.
    /// </summary>
    public void Commit(CommitRequest commit)
    {
        if (!_finalEnded || commit.Passes != _pass) throw MigrationErrors.Corrupt($"COMMIT after {commit.Passes} passes while the target has {_pass} (final pass ended: {_finalEnded})");
        ImageFigures f = _image.Figures();
        if (f.Private + f.Shared != commit.NonZeroPages || f.Ballooned != commit.BalloonedPages)
            throw MigrationErrors.Corrupt($"the image holds {f.Private + f.Shared} non-zero and {f.Ballooned} ballooned pages; COMMIT declares {commit.NonZeroPages} and {commit.BalloonedPages}");
        _image.Commit();
    }

    /// <summary>After a commit: drops the table's references (the entries hold their own) and the reservation raise.</summary>
    public void ReleaseHeld()
    {
        Table.Release();
        _lease.Release();
    }

    /// <summary>Frees everything staged (the VM never saw any of it).</summary>
    public void Discard()
    {
        _image.Discard();
        ReleaseHeld();
    }

    private void Apply(in StateRecord record)
    {
        if (_passEnded && record.Type != RecordType.Pass) throw MigrationErrors.Corrupt($"a {record.Type} record after PASS_END of pass {_pass}");
        switch (record.Type)
        {
            case RecordType.ContentRef:
                _image.ApplyReference(Table[ContentKey.Read(record.Fields)]);
                _records.References++;
                PagesByReference++;
                return;
            case RecordType.Duplicate:
                ApplyDuplicate(ContentKey.Read(record.Fields), BinaryPrimitives.ReadUInt64LittleEndian(record.Fields[ContentKey.Bytes..]));
                return;
            case RecordType.Pass:
                if (!_passEnded) throw MigrationErrors.Corrupt($"pass {record.Value} begins before PASS_END of pass {_pass}");
                _image.Apply(record);
                _pass = record.Value;
                _passEnded = false;
                _records = default;
                return;
            case RecordType.Shared or RecordType.SharedRef:
                throw MigrationErrors.Corrupt($"a {record.Type} record (saved states only) in a migration stream");
        }
        _image.Apply(record);
        Count(record);
    }

    /// <summary>The page at <paramref name="position"/> was staged with this content: share it and reference it for the next page too.</summary>
    private void ApplyDuplicate(ContentKey key, ulong position)
    {
        ReadOnlySpan<byte> content = _image.StagedContent(position);
        if (content.IsEmpty || ContentKey.Of(content) != key)
            throw MigrationErrors.Corrupt($"a DUPLICATE names position {position}, which does not hold content {key}");
        PageId shared = _image.ShareStaged(position, PageHash.Checksum(key.Hash));
        _vm.Manager.Pages.Port.AddSharedReference(_vm.Handle, shared);
        Table.Add(key, shared);
        _image.ApplyReference(shared);
        _records.Duplicates++;
        PagesByReference++;
    }

    private void Count(in StateRecord record)
    {
        switch (record.Type)
        {
            case RecordType.Zero: _records.Zero += record.Value; break;
            case RecordType.Ballooned: _records.Ballooned += record.Value; break;
            case RecordType.Skip: _records.Skipped += record.Value; break;
            case RecordType.Raw: _records.Raw++; PagesWithData++; break;
            case RecordType.Rom: _records.Rom++; PagesWithData++; break;
        }
    }
}
