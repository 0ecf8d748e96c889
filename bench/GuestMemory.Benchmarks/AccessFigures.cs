namespace GuestMemory.Benchmarks;

/// <summary>
/// What <c>gmm bench access</c> measures: each timed figure is the median of <see cref="Repetitions"/> runs
/// after one warm-up run. API figures and their native baselines are measured in the same run.
/// </summary>
/// <param name="Write4kGbps">4 KiB page-aligned <c>Write</c> to allocated guest pages, GB/s.</param>
/// <param name="Read4kGbps">4 KiB page-aligned <c>Read</c> from allocated guest pages, GB/s.</param>
/// <param name="Memcpy4kGbps">The same 4 KiB copies into a plain native buffer (the write direction), GB/s.</param>
/// <param name="Memcpy4kReadGbps">4 KiB copies out of the plain native buffer (the read direction), GB/s.</param>
/// <param name="Read8RandomNs">Random 8-byte reads over 64 MiB of allocated guest RAM through a vCPU's <c>GuestMemoryAccessor.ReadUInt64</c>, ns per read.</param>
/// <param name="Read8PlainRandomNs">The same reads through <c>GuestPhysicalMemory.ReadUInt64</c> (no accessor: the thread's epoch slot is looked up per read), ns per read.</param>
/// <param name="Read8SpanRandomNs">The same reads through <c>Read(address, 8-byte span)</c>, ns per read.</param>
/// <param name="RawRead8RandomNs">The same addresses read from a plain 64 MiB native buffer (no madvise), ns per read: the baseline.</param>
/// <param name="RawRead8RandomThpNs">The same addresses read from a native buffer backed like guest chunks (transparent huge pages), ns per read: the stricter baseline.</param>
/// <param name="FirstWriteNsPerPage">First write to each zero page of a fresh VM (handy pages, chunk commit included), ns per page.</param>
/// <param name="KernelFaultNsPerPage">mmap of anonymous memory plus the first touch of each 4 KiB page, ns per page.</param>
/// <param name="PgmBytesPerGuestPage">Managed bytes each guest page adds to a VM's guest-physical structures (1 GiB against 2 GiB VMs).</param>
/// <param name="PgmFixedBytesPerVm">Managed bytes a VM's guest-physical structures cost whatever its size (ranges, handy pages, translation cache, lock).</param>
/// <param name="PgmEntryBytes">Bytes of one packed page entry.</param>
/// <param name="Repetitions">Timed runs behind each median.</param>
/// <param name="HugePages">Whether guest chunks (and the native baselines) could use transparent huge pages.</param>
public sealed record AccessFigures(
    double Write4kGbps,
    double Read4kGbps,
    double Memcpy4kGbps,
    double Memcpy4kReadGbps,
    double Read8RandomNs,
    double Read8PlainRandomNs,
    double Read8SpanRandomNs,
    double RawRead8RandomNs,
    double RawRead8RandomThpNs,
    double FirstWriteNsPerPage,
    double KernelFaultNsPerPage,
    double PgmBytesPerGuestPage,
    long PgmFixedBytesPerVm,
    int PgmEntryBytes,
    int Repetitions,
    bool HugePages);
